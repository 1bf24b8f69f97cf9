//go:build !amd64 || purego

package esl

func newlineMask(s string, bits []uint64) { newlineMaskGeneric(s, bits) }
