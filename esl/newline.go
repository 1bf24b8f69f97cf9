package esl

import "math/bits"

// An event's header section is 3 to 9 KB of short lines (42 bytes on
// average), so finding its line ends with one strings.IndexByte call per
// line spent more on the calls than on the bytes: half of all the work of
// parsing an event went there. Instead a kernel marks every '\n' of a block
// in a bitmap, 64 bytes to a word (16 bytes to an SSE2 compare on amd64),
// and the line ends are read off the set bits.

// maskBlock is how many bytes one kernel call marks: 1 KiB, so scanning
// stops at most that far past the blank line that ends the headers.
const maskBlock = 1024

// newlineMaskGeneric sets bit j of bits[i] when s[64*i+j] is '\n', for each
// word of bits; s holds at least 64*len(bits) bytes. It is the reference the
// assembly kernel is tested against, and the kernel where there is none: it
// tests 8 bytes at a time, as a uint64 (a byte at a time cost twice as
// much again).
func newlineMaskGeneric(s string, bits []uint64) {
	const ones, lows, highs = 0x0101010101010101, 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	for i := range bits {
		var w uint64
		for j := 0; j < 64; j += 8 {
			p := s[64*i+j : 64*i+j+8]
			x := uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
				uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
			x ^= '\n' * ones // a '\n' byte is now zero
			// The high bit of each byte that is zero, exactly (no carries
			// between bytes), then those 8 bits gathered into the low byte.
			zero := ^((x&lows + lows) | x | lows) & highs
			w |= (zero >> 7 * 0x0102040810204080 >> 56) << j
		}
		bits[i] = w
	}
}

// indexHeaderLines returns the offset of the '\n' that ends each header
// line of s, up to the blank line ("\n" or "\r\n" alone) that ends the
// headers, and the offset just past that blank line, or len(s) when there
// is none. A last line without its '\n' ends at len(s). The '\r' of a CRLF
// line end stays in its line: FreeSWITCH writes LF only, and readers of a
// line strip it (trimCR).
func indexHeaderLines(s string) ([]uint32, int) {
	// One header line per 40 bytes is what channel events average.
	ends := make([]uint32, 0, len(s)/40+8)
	var mask [maskBlock / 64]uint64
	start := 0 // where the current line begins
	for block := 0; block+64 <= len(s); block += maskBlock {
		words := min(len(mask), (len(s)-block)/64)
		newlineMask(s[block:block+64*words], mask[:words])
		for i, w := range mask[:words] {
			for ; w != 0; w &= w - 1 {
				end := block + 64*i + bits.TrailingZeros64(w)
				if end-start <= 1 && (end == start || s[start] == '\r') {
					return ends, end + 1
				}
				ends = append(ends, uint32(end))
				start = end + 1
			}
		}
	}
	// The last bytes of s, fewer than a word.
	for end := max(start, len(s)&^63); end <= len(s); end++ {
		if end < len(s) && s[end] != '\n' {
			continue
		}
		if end-start <= 1 && (end == start || s[start] == '\r') {
			return ends, min(end+1, len(s))
		}
		ends = append(ends, uint32(end))
		start = end + 1
	}
	return ends, len(s)
}
