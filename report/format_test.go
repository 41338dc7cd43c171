package report

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain/path.txt", "plain/path.txt"},
		{"with space", "with space"},
		{"über/日本", "über/日本"},
		{"a\x1b[31mred", `a\x1b[31mred`},
		{"line\nbreak\ttab\r", `line\nbreak\ttab\r`},
		{"del\x7f", `del\x7f`},
		{"c1\u0085nel\u009bcsi", `c1\u0085nel\u009bcsi`},
		{"bidi\u202egnp.exe", `bidi\u202egnp.exe`},
		{"isolate\u2066x\u2069", `isolate\u2066x\u2069`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"sep\u2028", `sep\u2028`},
		{"nbsp\u00a0", `nbsp\u00a0`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{"\ufffd literal replacement", "\ufffd literal replacement"},
	} {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"a\x1b[2J", "\u202e", "\u0085", "\xff", "ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Escape(%q) = %q: invalid UTF-8", s, out)
		}
		for _, r := range out {
			if !unicode.IsPrint(r) {
				t.Fatalf("Escape(%q) = %q holds %U", s, out, r)
			}
		}
	})
}
