package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/profile"
)

func main() {
	// client-go logs transient errors through klog; the command reports errors itself. A
	// discarding logger catches every klog call, including errors that klog would otherwise
	// copy to stderr past its stderr threshold whatever its output is.
	klog.SetLogger(logr.Discard())
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := NewRootCmd().ExecuteContext(ctx)
	stop()
	os.Exit(report(err))
}

// report prints err for a person and returns the process exit code.
func report(err error) int {
	if err == nil {
		return exitcode.OK
	}
	if errors.Is(err, errSilent) {
		return exitcode.Of(err, exitcode.Failed)
	}
	if list, ok := profile.AsErrorList(err); ok {
		for _, e := range list {
			fmt.Fprintln(os.Stderr, e.Error())
		}
		fmt.Fprintf(os.Stderr, "Error: %d problem(s) in the profile\n", len(list))
		return exitcode.BadInput
	}
	fmt.Fprintln(os.Stderr, "Error:", err)
	var flagErr *flagError
	// cobra reports an unknown command or subcommand of the root as a plain error.
	if errors.As(err, &flagErr) || strings.HasPrefix(err.Error(), "unknown command ") {
		return exitcode.BadInput
	}
	return exitcode.Of(err, exitcode.Environment)
}

// errSilent marks an error whose report was already printed (e.g. a verify report).
var errSilent = errors.New("reported")

// flagError is a usage mistake: wrong flags or arguments.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &flagError{fmt.Errorf(format, args...)}
}
