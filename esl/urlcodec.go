package esl

import "strings"

// urlUnsafe marks the bytes FreeSWITCH's switch_url_encode escapes in event
// header values: controls, space, "#%&+:;<=>?@[\]^`{|} and every byte >= 0x7f.
var urlUnsafe = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	for c := 0x7f; c < 256; c++ {
		t[c] = true
	}
	for _, c := range []byte(" \"#%&+:;<=>?@[\\]^`{|}") {
		t[c] = true
	}
	return t
}()

const hexDigits = "0123456789ABCDEF"

// appendURLEncoded appends s to dst escaped the way FreeSWITCH escapes event
// header values.
func appendURLEncoded(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if urlUnsafe[c] {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// URLEncode escapes s as FreeSWITCH escapes event header values.
func URLEncode(s string) string {
	for i := 0; i < len(s); i++ {
		if urlUnsafe[s[i]] {
			return string(appendURLEncoded(make([]byte, 0, len(s)+16), s))
		}
	}
	return s
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// URLDecode reverses URLEncode. Like switch_url_decode it leaves a '%' that
// is not followed by two hex digits as it is, and does not turn '+' into a
// space (FreeSWITCH sends '+' as %2B).
func URLDecode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, c)
	}
	return string(b)
}
