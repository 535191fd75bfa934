package output

import (
	"encoding/json"
	"io"

	"bulwark.dev/bulwark/verify"
)

// jsonWriter prints the reports as a JSON list of verify.Report, the documented schema.
type jsonWriter struct{}

func (jsonWriter) Write(w io.Writer, reports []*verify.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reports)
}
