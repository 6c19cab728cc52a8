//go:build amd64 && !purego

package rdb

import "golang.org/x/sys/cpu"

// haveCLMUL tells whether crcFoldCLMUL can run here.
var haveCLMUL = cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE41

// crcFoldCLMUL folds each 16 bytes of p (a multiple of 16 long) into s,
// the 16 bytes before them: s = s.lo·k[0] ^ s.hi·k[1] ^ block, carry-less.
//
//go:noescape
func crcFoldCLMUL(s *[2]uint64, p []byte, k *[2]uint64)
