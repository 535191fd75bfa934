package output

import (
	"encoding/json"
	"errors"
	"io"

	"bulwark.dev/bulwark/oscal"
	"bulwark.dev/bulwark/verify"
)

// oscalWriter writes OSCAL 1.1.3 assessment results (valid against the official
// schema, as the oscal package's tests hold them): one result per cluster, observations per finding, findings per TSC point.
type oscalWriter struct{}

func (oscalWriter) Write(w io.Writer, reports []*verify.Report) error {
	if len(reports) == 0 {
		return errors.New("no verification to write")
	}
	at := reports[0].CheckedAt
	for _, r := range reports {
		if r.CheckedAt.After(at) {
			at = r.CheckedAt
		}
	}
	doc, err := oscal.AssessmentResults(reports, at)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
