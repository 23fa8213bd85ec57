package mlclient

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// Sentinel errors, so the engine can tell failures apart with errors.Is:
//
//	if errors.Is(err, mlclient.ErrUnavailable) { // degrade to rules }
var (
	ErrInvalidArgument    = errors.New("ml sidecar: invalid argument")
	ErrFailedPrecondition = errors.New("ml sidecar: failed precondition")
	ErrUnavailable        = errors.New("ml sidecar: unavailable")
	ErrDeadlineExceeded   = errors.New("ml sidecar: deadline exceeded")
	ErrCanceled           = errors.New("ml sidecar: canceled")
	ErrNotFound           = errors.New("ml sidecar: not found")
	ErrResourceExhausted  = errors.New("ml sidecar: resource exhausted")
	ErrInternal           = errors.New("ml sidecar: internal error")
	ErrUnimplemented      = errors.New("ml sidecar: unimplemented")
)

var sentinels = map[connect.Code]error{
	connect.CodeInvalidArgument:    ErrInvalidArgument,
	connect.CodeFailedPrecondition: ErrFailedPrecondition,
	connect.CodeUnavailable:        ErrUnavailable,
	connect.CodeDeadlineExceeded:   ErrDeadlineExceeded,
	connect.CodeCanceled:           ErrCanceled,
	connect.CodeNotFound:           ErrNotFound,
	connect.CodeResourceExhausted:  ErrResourceExhausted,
	connect.CodeInternal:           ErrInternal,
	connect.CodeUnimplemented:      ErrUnimplemented,
}

// FieldViolation names a field of the request that was wrong.
type FieldViolation struct {
	Field       string
	Description string
}

// Error is every error the client returns for a failed call. errors.Is
// matches it against the sentinels above by its gRPC code; errors.As gives
// the code, the message and the field violations.
type Error struct {
	Code       connect.Code
	Message    string
	Violations []FieldViolation
	// RequestID is the id the sidecar logged the call under (its
	// x-request-id): the one given with WithRequestID, or one it made.
	// Empty when the call never reached the sidecar.
	RequestID string
	cause     error
}

func (e *Error) Error() string {
	return fmt.Sprintf("ml sidecar: %s: %s", e.Code, e.Message)
}

// Is reports whether target is the sentinel for this error's code.
func (e *Error) Is(target error) bool {
	return sentinels[e.Code] == target
}

// Unwrap returns the underlying connect error.
func (e *Error) Unwrap() error { return e.cause }

func wrap(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return &Error{Code: connect.CodeUnknown, Message: err.Error(), cause: err}
	}
	out := &Error{Code: ce.Code(), Message: ce.Message(), RequestID: ce.Meta().Get("x-request-id"), cause: err}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				out.Violations = append(out.Violations, FieldViolation{Field: fv.GetField(), Description: fv.GetDescription()})
			}
		}
	}
	return out
}
