// Package bytesize formats byte counts for people, the one way every
// command and log line of redkit shows a size: binary units (1024), one
// decimal ("512 B", "1.5 KiB", "16.0 MiB").
package bytesize

import "fmt"

// Format formats n bytes with a binary unit: "n B" under 1 KiB, else one
// decimal and KiB, MiB, GiB, TiB, PiB or EiB.
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
