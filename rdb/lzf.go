package rdb

import "errors"

var errLZF = errors.New("invalid LZF data")

// lzfDecompress decompresses src, which must expand to exactly len(dst)
// bytes, into dst. The format is liblzf's: a control byte below 32 starts a
// run of ctrl+1 literals; otherwise its top three bits give a match length
// (7 means a further length byte follows) and the back-reference offset is
// its low five bits followed by the next byte.
func lzfDecompress(src, dst []byte) error {
	ip, op := 0, 0
	for ip < len(src) {
		ctrl := int(src[ip])
		ip++
		if ctrl < 32 {
			n := ctrl + 1
			if ip+n > len(src) || op+n > len(dst) {
				return errLZF
			}
			copy(dst[op:], src[ip:ip+n])
			ip += n
			op += n
			continue
		}
		n := ctrl >> 5
		if n == 7 {
			if ip >= len(src) {
				return errLZF
			}
			n += int(src[ip])
			ip++
		}
		if ip >= len(src) {
			return errLZF
		}
		ref := op - ((ctrl & 0x1f) << 8) - 1 - int(src[ip])
		ip++
		n += 2
		if ref < 0 || op+n > len(dst) {
			return errLZF
		}
		if ref+n <= op {
			copy(dst[op:op+n], dst[ref:ref+n])
			op += n
		} else {
			for ; n > 0; n-- {
				dst[op] = dst[ref]
				op++
				ref++
			}
		}
	}
	if op != len(dst) {
		return errLZF
	}
	return nil
}
