package transport

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// An apply error a secondary reports survives the wire, bounded in
// length and made valid UTF-8 (proto3 strings must be).
func TestAckApplyErrorRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantLen  int
	}{
		{"short", "write \"a\": no space left on device", len("write \"a\": no space left on device")},
		{"long", strings.Repeat("é", maxErrorLen), maxErrorLen},
		{"invalid UTF-8", "bad \xff name", len("bad \uFFFD name")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Ack{Folder: "data", Seq: 7, ApplyError: tc.in}
			got, err := ackFromWire(ackToWire(a), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if got.Seq != 7 || len(got.ApplyError) != tc.wantLen || !utf8.ValidString(got.ApplyError) ||
				!strings.HasPrefix(tc.in, got.ApplyError[:min(4, len(got.ApplyError))]) {
				t.Errorf("ack arrived as seq %d error %q (%d bytes), want %d bytes of %q", got.Seq, got.ApplyError, len(got.ApplyError), tc.wantLen, tc.in)
			}
		})
	}
}

// The processed point travels apart from the durable position; one at or
// below it says nothing more and arrives as zero.
func TestAckProcessedRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		seq, processed, want uint64
	}{
		{seq: 9, processed: 14, want: 14},
		{seq: 9, processed: 9, want: 0},
		{seq: 9, processed: 3, want: 0},
		{seq: 9, processed: 0, want: 0},
	} {
		got, err := ackFromWire(ackToWire(Ack{Folder: "data", Seq: tc.seq, Processed: tc.processed}), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != tc.seq || got.Processed != tc.want {
			t.Errorf("ack seq %d processed %d arrived as seq %d processed %d, want processed %d", tc.seq, tc.processed, got.Seq, got.Processed, tc.want)
		}
	}
}
