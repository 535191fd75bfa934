package output

import (
	"fmt"
	"io"

	"bulwark.dev/bulwark/verify"
)

// Writer renders the reports of one verify run (one per cluster).
type Writer interface {
	Write(w io.Writer, reports []*verify.Report) error
}

// Formats are the names New accepts.
var Formats = []string{"text", "json", "junit", "sarif", "oscal"}

// New returns the writer for a format; verbose adds passing findings and API cost to text.
func New(format string, verbose bool) (Writer, error) {
	switch format {
	case "text":
		return text{verbose: verbose}, nil
	case "json":
		return jsonWriter{}, nil
	case "junit":
		return junit{}, nil
	case "sarif":
		return sarif{}, nil
	case "oscal":
		return oscalWriter{}, nil
	}
	return nil, fmt.Errorf("unknown report format %q (allowed: text, json, junit, sarif, oscal)", format)
}
