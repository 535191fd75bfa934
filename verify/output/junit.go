package output

import (
	"encoding/xml"
	"io"
	"sort"
	"strings"

	"bulwark.dev/bulwark/verify"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr,omitempty"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// junitSkipped marks a control the bundle does not realise: not applicable, not checked.
type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// junit writes one test suite per cluster and one test case per control; the controls
// the bundle does not realise are skipped test cases.
type junit struct{}

func (junit) Write(w io.Writer, reports []*verify.Report) error {
	out := junitSuites{}
	for _, r := range reports {
		suite := junitSuite{Name: r.Cluster + ": " + r.Bundle.Profile + " " + r.Bundle.Version}
		byControl := map[string][]verify.Finding{}
		for _, f := range r.Findings {
			for _, c := range f.Controls {
				byControl[c] = append(byControl[c], f)
			}
		}
		ids := make([]string, 0, len(byControl))
		for id := range byControl {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		if r.Error != "" {
			suite.Cases = append(suite.Cases, junitCase{Name: "cluster reachable", Classname: r.Cluster, Failure: &junitFailure{Message: r.Error}})
		}
		for _, id := range ids {
			tc := junitCase{Name: id, Classname: r.Cluster}
			var fails, all []string
			for _, f := range byControl[id] {
				line := string(f.Status) + " " + string(f.Check) + ": " + f.Message
				all = append(all, line)
				if f.Status == verify.Fail {
					fails = append(fails, line)
				}
			}
			if len(fails) > 0 {
				tc.Failure = &junitFailure{Message: fails[0], Text: strings.Join(fails, "\n")}
			}
			tc.SystemOut = strings.Join(all, "\n")
			suite.Cases = append(suite.Cases, tc)
		}
		for _, n := range r.NotApplicable {
			suite.Cases = append(suite.Cases, junitCase{Name: n.ID, Classname: r.Cluster,
				Skipped: &junitSkipped{Message: "not realised by the bundle: " + n.Reason}})
		}
		for _, c := range suite.Cases {
			suite.Tests++
			if c.Failure != nil {
				suite.Failures++
			}
			if c.Skipped != nil {
				suite.Skipped++
			}
		}
		out.Tests += suite.Tests
		out.Failures += suite.Failures
		out.Suites = append(out.Suites, suite)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
