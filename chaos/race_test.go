//go:build race

package chaos

// raceBuild: the test runs with the race detector, so dialerd is built
// with it too (make test runs -race).
const raceBuild = true
