package transport

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRefusalRoundTrip: each refusal reaches the other node as the same
// reason with the same message, through its gRPC status.
func TestRefusalRoundTrip(t *testing.T) {
	for _, rc := range refusalCodes {
		t.Run(rc.reason, func(t *testing.T) {
			sent := fmt.Errorf("welcome: %w", Refuse(rc.err, "no, because %d", 7))
			st, ok := refusalStatus(sent)
			if !ok || st.Code() != rc.code || st.Message() != "no, because 7" {
				t.Fatalf("status = %v %v, want %v with the refusal's message", st, ok, rc.code)
			}
			r := refusalFromStatus(status.Convert(st.Err()))
			if r == nil || !errors.Is(r, rc.err) || r.Msg != "no, because 7" {
				t.Fatalf("received %#v, want a refusal for %v", r, rc.err)
			}
			for _, other := range refusalCodes {
				if other.err != rc.err && errors.Is(r, other.err) {
					t.Errorf("received refusal also matches %v", other.err)
				}
			}
		})
	}
}

func TestRefusalStatusEdges(t *testing.T) {
	// A refusal without a known reason still refuses.
	st, ok := refusalStatus(&Refusal{Msg: "no"})
	if !ok || st.Code() != codes.FailedPrecondition {
		t.Errorf("reasonless refusal: %v %v, want FailedPrecondition", st, ok)
	}
	// A plain error wrapping a reason travels with its whole text.
	st, ok = refusalStatus(fmt.Errorf("pause: %w", ErrStaleEpoch))
	if !ok || st.Code() != codes.FailedPrecondition || st.Message() != "pause: stale epoch" {
		t.Errorf("wrapped reason: %v %v", st, ok)
	}
	if _, ok := refusalStatus(errors.New("disk on fire")); ok {
		t.Error("an internal error travels as a refusal")
	}
	// A status without a reason (a peer that sends none) by its code.
	if r := refusalFromStatus(status.New(codes.PermissionDenied, "go away")); !errors.Is(r, ErrNotMember) {
		t.Errorf("PermissionDenied without a reason: %#v", r)
	}
	if r := refusalFromStatus(status.New(codes.FailedPrecondition, "later")); !errors.Is(r, ErrRefused) {
		t.Errorf("FailedPrecondition without a reason: %#v", r)
	}
	if r := refusalFromStatus(status.New(codes.Internal, "oops")); r != nil {
		t.Errorf("Internal is a refusal: %#v", r)
	}
}
