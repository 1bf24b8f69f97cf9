package esl

import "testing"

func TestHangupCauses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		code, q850 int
		known      bool
	}{
		{"USER_BUSY", 17, 17, true},
		{"normal_clearing", 16, 16, true},
		{"INTERWORKING", 127, 127, true},
		{"ORIGINATOR_CANCEL", 487, 16, true}, // FreeSWITCH's own: reported as 16
		{"GATEWAY_DOWN", 809, 16, true},
		{"MADE_UP", 0, 16, false},
	} {
		code, known := HangupCauseCode(tc.name)
		if code != tc.code || known != tc.known || Q850(tc.name) != tc.q850 {
			t.Errorf("%s: code %d known %v q850 %d; want %d %v %d", tc.name, code, known, Q850(tc.name), tc.code, tc.known, tc.q850)
		}
	}
}
