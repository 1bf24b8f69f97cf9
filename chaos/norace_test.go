//go:build !race

package chaos

// raceBuild: the test runs without the race detector; dialerd is built
// without it.
const raceBuild = false
