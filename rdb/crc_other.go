//go:build !amd64 || purego

package rdb

// haveCLMUL is false: crcUpdate uses the tables alone.
const haveCLMUL = false

func crcFoldCLMUL(s *[2]uint64, p []byte, k *[2]uint64) { panic("rdb: no carry-less multiply here") }
