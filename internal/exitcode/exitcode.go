package exitcode

import "errors"

// The exit codes.
const (
	OK          = 0
	Failed      = 1
	BadInput    = 2
	Environment = 3
)

// Error carries an exit code with the error that caused it.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap marks err with code; nil stays nil.
func Wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// AsBadInput, AsEnvironment and AsFailed are shorthands for Wrap.
func AsBadInput(err error) error    { return Wrap(BadInput, err) }
func AsEnvironment(err error) error { return Wrap(Environment, err) }
func AsFailed(err error) error      { return Wrap(Failed, err) }

// Of returns the exit code for err: OK for nil, the outermost marked code, or fallback.
func Of(err error, fallback int) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return fallback
}
