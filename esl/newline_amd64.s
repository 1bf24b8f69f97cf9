//go:build !purego

#include "textflag.h"

// func newlineMask(s string, bits []uint64)
// For each word of bits, compare 64 bytes of s with '\n' in four 16-byte
// lanes and pack the four 16-bit match masks into the word.
TEXT ·newlineMask(SB), NOSPLIT, $0-40
	MOVQ s_base+0(FP), SI
	MOVQ bits_base+16(FP), DI
	MOVQ bits_len+24(FP), CX
	MOVQ $0x0a0a0a0a0a0a0a0a, AX
	MOVQ AX, X0
	PUNPCKLQDQ X0, X0
	TESTQ CX, CX
	JZ done

loop:
	MOVOU 0(SI), X1
	MOVOU 16(SI), X2
	MOVOU 32(SI), X3
	MOVOU 48(SI), X4
	PCMPEQB X0, X1
	PCMPEQB X0, X2
	PCMPEQB X0, X3
	PCMPEQB X0, X4
	PMOVMSKB X1, AX
	PMOVMSKB X2, BX
	PMOVMSKB X3, DX
	PMOVMSKB X4, R8
	SHLQ $16, BX
	SHLQ $32, DX
	SHLQ $48, R8
	ORQ BX, AX
	ORQ DX, R8
	ORQ R8, AX
	MOVQ AX, 0(DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ loop

done:
	RET
