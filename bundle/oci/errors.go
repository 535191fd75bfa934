package oci

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"bulwark.dev/bulwark/internal/exitcode"
)

// WrapError is the one place every registry error passes through on its way to a user: it
// names the action and the reference, classifies the failure (exit 2 or 3), keeps only what
// is safe of the registry's message, and removes this client's password and its basic-auth
// encoding, should any layer below have put them in the text.
func (c *Client) WrapError(action string, ref fmt.Stringer, err error) error {
	err = registryError(action, ref, err)
	if err == nil || len(c.password) < 4 {
		return err
	}
	msg := err.Error()
	clean := strings.ReplaceAll(msg, c.password, "<redacted>")
	basic := base64.StdEncoding.EncodeToString([]byte(c.username + ":" + c.password))
	clean = strings.ReplaceAll(clean, basic, "<redacted>")
	if clean == msg {
		return err
	}
	return exitcode.Wrap(exitcode.Of(err, exitcode.Environment), &redactedError{msg: clean, cause: errors.Unwrap(err)})
}

// redactedError shows a scrubbed message; it unwraps only to context errors, so that no
// caller can reach the original, unscrubbed error text through errors.As.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error {
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(e.cause, c) {
			return c
		}
	}
	return nil
}

// Patterns of secrets that HTTP libraries put in error text: userinfo in URLs,
// Authorization header values, and token-bearing query parameters.
var (
	secretUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s"']+@`)
	secretAuthz    = regexp.MustCompile(`(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]+`)
	secretQuery    = regexp.MustCompile(`(?i)([?&](?:access_token|token|password|passwd|secret|signature|sig|x-amz-signature|x-amz-credential)=)[^&\s"']+`)
)

// scrub removes secret-shaped text from a message.
func scrub(s string) string {
	s = secretUserinfo.ReplaceAllString(s, "${1}")
	s = secretAuthz.ReplaceAllString(s, "${1} <redacted>")
	return secretQuery.ReplaceAllString(s, "${1}<redacted>")
}

// registryError turns a transport failure into an error that names the action and the
// registry or repository, and carries no credentials: a registry's own message (which
// may echo a request) is reduced to its status and error codes, URLs lose their userinfo
// and query, and anything else is scrubbed of secret-shaped text. Auth refusals,
// unreachable registries and server errors are Environment (3); a missing tag or
// repository is BadInput (2).
func registryError(action string, ref fmt.Stringer, err error) error {
	if err == nil {
		return nil
	}
	var cause error
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, c) {
			cause = c
		}
	}
	var msg string
	var terr *transport.Error
	var uerr *url.Error
	switch {
	case errors.As(err, &terr):
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			msg = fmt.Sprintf("authentication refused (HTTP %d): check docker login or --username/--password-stdin", terr.StatusCode)
		case http.StatusNotFound:
			return exitcode.AsBadInput(fmt.Errorf("%s %s: not found", action, ref))
		default:
			var codes []string
			for _, d := range terr.Errors {
				codes = append(codes, string(d.Code))
			}
			msg = strings.TrimSpace(fmt.Sprintf("registry answered HTTP %d %s", terr.StatusCode, strings.Join(codes, ",")))
		}
	case errors.As(err, &uerr):
		msg = fmt.Sprintf("%s %s: %s", uerr.Op, redactURL(uerr.URL), scrub(uerr.Err.Error()))
	default:
		msg = scrub(err.Error())
	}
	return exitcode.AsEnvironment(&redactedError{msg: fmt.Sprintf("%s %s: %s", action, ref, msg), cause: cause})
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<url>"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}
