package transport

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors callers branch on (errors.Is). The refusals (ErrNotMember,
// ErrStaleEpoch, ErrUnknownQuery, ErrRefused) are what a *Refusal wraps;
// they travel between nodes as gRPC status codes with a reason
// (refusalCodes), converted here and nowhere else.
var (
	// ErrChunkMissing: the primary no longer holds a chunk (returned by
	// Source.ReadChunk; a fetched Chunk has Missing set instead).
	ErrChunkMissing = errors.New("chunk no longer available")
	// ErrProtocol: the peer sent something malformed or over a limit. The
	// wrapping error says what.
	ErrProtocol = errors.New("protocol violation")
	// ErrDeadline is wrapped by the client's error when the primary ran
	// out of the call's time (a pause that did not reach its point in
	// time).
	ErrDeadline = errors.New("deadline exceeded")
	// ErrManifest is wrapped by the error of an upload the secondary
	// could not complete (it could not read its tree).
	ErrManifest = errors.New("the secondary could not list its tree")

	// ErrNotMember: the peer is not one this node serves: not one of the
	// primary's secondaries, of another cluster, or claiming another
	// identity or role than its certificate's.
	ErrNotMember = errors.New("not a member")
	// ErrStaleEpoch: the two nodes' histories disagree: the secondary has
	// seen a newer epoch than the primary, or is ahead of it in a folder.
	// A secondary that gets it looks at the primary's lineage next.
	ErrStaleEpoch = errors.New("stale epoch")
	// ErrUnknownQuery: an answer to a query the primary did not ask (or
	// no longer waits for), such as a manifest upload.
	ErrUnknownQuery = errors.New("unknown query")
	// ErrRefused: any other deliberate "no" whose message says why (a
	// pause that exists already, a resume without a pause).
	ErrRefused = errors.New("refused")
)

// Refusal is a deliberate "no" from a peer: a primary refusing a session, or
// a Source refusing a request. Reason is one of the refusal errors above
// (errors.Is matches it); Msg is the text the other node shows as it is.
type Refusal struct {
	Reason error
	Msg    string
}

// Refuse returns a *Refusal for reason with a formatted message.
func Refuse(reason error, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

func (r *Refusal) Error() string { return r.Msg }

func (r *Refusal) Unwrap() error { return r.Reason }

// errorDomain names ncsync's reasons in a status's ErrorInfo.
const errorDomain = "ncsync.dev"

// refusalCodes maps each refusal to the gRPC code and ErrorInfo reason it
// travels as. A status of one of these codes without a known reason (from
// a peer that sends none) is taken as the first refusal with its code.
var refusalCodes = []struct {
	err    error
	code   codes.Code
	reason string
}{
	{ErrNotMember, codes.PermissionDenied, "NOT_MEMBER"},
	{ErrRefused, codes.FailedPrecondition, "REFUSED"},
	{ErrStaleEpoch, codes.FailedPrecondition, "STALE_EPOCH"},
	{ErrUnknownQuery, codes.PermissionDenied, "UNKNOWN_QUERY"},
}

// refusalStatus is the status a refusal travels as; ok is false if err is
// not a refusal. An error wrapping a refusal reason without a *Refusal
// travels with its whole text; a *Refusal without a known reason as
// ErrRefused.
func refusalStatus(err error) (st *status.Status, ok bool) {
	r, isRefusal := errors.AsType[*Refusal](err)
	for _, rc := range refusalCodes {
		if errors.Is(err, rc.err) || isRefusal && rc.err == ErrRefused && !knownReason(r.Reason) {
			msg := err.Error()
			if isRefusal {
				msg = r.Msg
			}
			st = status.New(rc.code, msg)
			if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: rc.reason, Domain: errorDomain}); derr == nil {
				st = d
			}
			return st, true
		}
	}
	return nil, false
}

func knownReason(err error) bool {
	for _, rc := range refusalCodes {
		if err != nil && errors.Is(err, rc.err) {
			return true
		}
	}
	return false
}

// refusalFromStatus is the *Refusal a status of a refusal's code carries,
// or nil.
func refusalFromStatus(st *status.Status) *Refusal {
	var reason string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == errorDomain {
			reason = info.GetReason()
		}
	}
	var fallback error
	for _, rc := range refusalCodes {
		if rc.code != st.Code() {
			continue
		}
		if rc.reason == reason {
			return &Refusal{Reason: rc.err, Msg: st.Message()}
		}
		if fallback == nil {
			fallback = rc.err
		}
	}
	if fallback == nil {
		return nil
	}
	return &Refusal{Reason: fallback, Msg: st.Message()}
}

// refusalError is the status error of a refusal r.
func refusalError(r *Refusal) error {
	st, _ := refusalStatus(r)
	return st.Err()
}
