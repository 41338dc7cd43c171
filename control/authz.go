package control

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// readOnlyMethods are the commands that change nothing; every other
// method, including ones added later, counts as mutating.
var readOnlyMethods = map[string]bool{
	ncsyncv1.ControlService_Status_FullMethodName:    true,
	ncsyncv1.ControlService_Conflicts_FullMethodName: true,
	ncsyncv1.ControlService_Verify_FullMethodName:    true,
	ncsyncv1.ControlService_Changes_FullMethodName:   true,
}

// authorize checks the caller of method against the socket's policy and
// logs every mutating command with the caller's uid.
func (s *Server) authorize(ctx context.Context, method string) error {
	cmd := commandName(method)
	c, a, ok := callerOf(ctx)
	if !ok {
		s.log.Warn("control command refused", "command", cmd, "err", errNoCaller)
		return status.Error(codes.PermissionDenied, errNoCaller.Error())
	}
	lv := mutating
	if readOnlyMethods[method] {
		lv = readOnly
	}
	if err := a.allow(c, lv, cmd); err != nil {
		s.log.Warn("control command refused", "command", cmd, "uid", c.UID, "gid", c.GID, "pid", c.PID)
		return status.Error(codes.PermissionDenied, err.Error())
	}
	if lv == mutating {
		s.log.Info("control command", "command", cmd, "uid", c.UID, "pid", c.PID)
	}
	return nil
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
