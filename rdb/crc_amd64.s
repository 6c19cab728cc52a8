//go:build amd64 && !purego

#include "textflag.h"

// func crcFoldCLMUL(s *[2]uint64, p []byte, k *[2]uint64)
TEXT ·crcFoldCLMUL(SB), NOSPLIT, $0-40
	MOVQ  s+0(FP), AX
	MOVQ  p_base+8(FP), SI
	MOVQ  p_len+16(FP), CX
	MOVQ  k+32(FP), DX
	MOVOU (AX), X0 // the state: low lane Ahi, high lane Alo
	MOVOU (DX), X1 // the constants, in the same lanes

loop:
	CMPQ      CX, $16
	JB        done
	MOVO      X0, X2
	PCLMULQDQ $0x00, X1, X0 // low lane times k[0]
	PCLMULQDQ $0x11, X1, X2 // high lane times k[1]
	PXOR      X2, X0
	MOVOU     (SI), X3
	PXOR      X3, X0
	ADDQ      $16, SI
	SUBQ      $16, CX
	JMP       loop

done:
	MOVOU X0, (AX)
	RET
