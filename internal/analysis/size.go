package analysis

import (
	"strconv"
	"strings"
)

// FormatSize formats a byte count the way HDT3213/rdb's reports do: the
// largest binary unit (B, K, M, G, T, P, E) that keeps the value at least
// 1, with at most one decimal ("424B", "2.5K", "3M"); "0" for zero.
func FormatSize(n int64) string {
	if n == 0 {
		return "0"
	}
	if n < 0 {
		return strconv.FormatInt(n, 10) + "B"
	}
	const units = "BKMGTPE"
	u := 0
	for u < len(units)-1 && n >= 1<<(10*(u+1)) {
		u++
	}
	s := strconv.FormatFloat(float64(n)/float64(int64(1)<<(10*u)), 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + units[u:u+1]
}
