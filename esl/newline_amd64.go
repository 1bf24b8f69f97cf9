//go:build !purego

package esl

// newlineMask is newlineMaskGeneric in SSE2, which every amd64 has.
//
//go:noescape
func newlineMask(s string, bits []uint64)
