package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	oscalTypes "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-3"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"bulwark.dev/bulwark/evidence"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/oscal/oscalschema"
)

// TestEvidenceCommands: verify --attest on two real clusters, twice, leaves four signed
// records beside the bundle; evidence list shows them, evidence show prints one and refuses
// them all with another key (exit 1).
func TestEvidenceCommands(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	a, b := testenv.StartCluster(t), testenv.StartCluster(t)
	dir := t.TempDir()
	t.Setenv("COSIGN_PASSWORD", "pw")
	key := filepath.Join(dir, "release")
	other := filepath.Join(dir, "other")
	for _, k := range []string{key, other} {
		if _, errOut, code := run(t, "", "keys", "generate", "--output-key-prefix", k); code != 0 {
			t.Fatal(errOut)
		}
	}
	ref := reg.Ref("policies/saas") + ":1.0.0"
	if _, errOut, code := run(t, "", "push", "-q", "-f", "../../examples/saas-starter.yaml", "--version", "1.0.0", ref); code != 0 {
		t.Fatal(errOut)
	}
	kc := clientcmdapi.NewConfig()
	for name, c := range map[string]*testenv.Cluster{"east": a, "west": b} {
		loaded, err := clientcmd.LoadFromFile(c.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		ctx := loaded.Contexts[loaded.CurrentContext]
		kc.Clusters[name] = loaded.Clusters[ctx.Cluster]
		kc.AuthInfos[name] = loaded.AuthInfos[ctx.AuthInfo]
		kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		// The bundle was never applied: not converged (exit 1), and recorded as such.
		if _, errOut, code := run(t, "", "verify", "--bundle", ref, "--kubeconfig", kubeconfig, "--context", "east", "--context", "west", "--attest", key+".key"); code != 1 || !strings.Contains(errOut, "attached the verification of west") {
			t.Fatalf("verify --attest: exit %d\n%s", code, errOut)
		}
	}
	out, errOut, code := run(t, "", "evidence", "list", ref, "--key", key+".pub", "-o", "json")
	if code != 0 {
		t.Fatalf("evidence list: exit %d\n%s", code, errOut)
	}
	var listed struct {
		Bundle  string            `json:"bundle"`
		Records []evidence.Record `json:"records"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(listed.Records) != 4 {
		t.Fatalf("%d records, want 4: %s", len(listed.Records), out)
	}
	for i, r := range listed.Records {
		wantCluster := []string{"east", "east", "west", "west"}[i]
		if r.Cluster != wantCluster || r.Signature != "verified" || r.Result != evidence.Failed || !r.Summarised || r.ClusterUID == "" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if listed.Records[0].ClusterUID == listed.Records[2].ClusterUID {
		t.Error("two clusters with one kube-system UID")
	}
	out, errOut, code = run(t, "", "evidence", "show", ref, "--cluster", "west", "--key", key+".pub")
	if code != 0 || !strings.Contains(out, `"cluster": "west"`) || !strings.Contains(out, `"controls"`) {
		t.Errorf("evidence show: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := run(t, "", "evidence", "show", ref, "--cluster", listed.Records[0].ClusterUID, "--key", key+".pub"); code != 0 || !strings.Contains(out, `"cluster": "east"`) {
		t.Errorf("evidence show by kube-system UID: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, errOut, code := run(t, "", "evidence", "show", ref, "--cluster", "west", "--key", other+".pub"); code != 1 || !strings.Contains(errOut, "records refused") {
		t.Errorf("evidence show with another key: exit %d, want 1\n%s", code, errOut)
	}
	out, errOut, code = run(t, "", "evidence", "export", ref, "--key", key+".pub", "--format", "oscal")
	var doc oscalTypes.OscalCompleteSchema
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || doc.AssessmentResults == nil || len(doc.AssessmentResults.Results) != 4 {
		t.Fatalf("evidence export --format oscal: exit %d, %v\n%s", code, err, errOut)
	}
	if err := oscalschema.Validate(&doc); err != nil {
		t.Error(err)
	}
	// The audit page: its numbers are the JSON's, and it needs nothing from elsewhere.
	out, errOut, code = run(t, "", "evidence", "report", ref, "--key", key+".pub", "-o", "json")
	var summary evidence.Summary
	if err := json.Unmarshal([]byte(out), &summary); code != 0 || err != nil || summary.Records != 4 || len(summary.Clusters) != 2 || len(summary.Points) == 0 {
		t.Fatalf("evidence report -o json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	page, errOut, code := run(t, "", "evidence", "report", ref, "--key", key+".pub")
	if code != 0 || !strings.Contains(page, `data-records="4"`) || strings.Contains(page, "src=") || strings.Contains(page, `href="http`) {
		t.Fatalf("evidence report (html): exit %d\n%s", code, errOut)
	}
	for _, c := range summary.Clusters {
		want := fmt.Sprintf(`data-cluster="%s" data-runs="%d" data-passed="%d" data-failed="%d"`, c.Name, len(c.Runs), c.Passed, c.Failed)
		if !strings.Contains(page, want) {
			t.Errorf("the page does not say %s", want)
		}
	}
	for _, p := range summary.Points {
		if !strings.Contains(page, `data-point="`+p.ID+`"`) {
			t.Errorf("the page has no table for %s", p.ID)
		}
	}
	checkPageInChromium(t, filepath.Join(dir, "report.html"), page, &summary)
	if md, _, code := run(t, "", "evidence", "report", ref, "--key", key+".pub", "-o", "markdown"); code != 0 || !strings.Contains(md, "4 verified records") {
		t.Errorf("evidence report -o markdown: exit %d\n%s", code, md)
	}
	if out, _, code := run(t, "", "evidence", "list", ref, "--key", key+".pub"); code != 0 || strings.Count(out, "verified") != 4 {
		t.Errorf("evidence list (text): exit %d\n%s", code, out)
	}
}

// checkPageInChromium opens the audit page in a real headless Chromium: it asks for nothing
// but itself, it renders (a screenshot with the pass and fail colours of its cells), and the
// text a person reads on it — totals, per cluster counts, per point and control the status
// of every run, the failing checks listed — is the JSON summary's.
func checkPageInChromium(t *testing.T, path, page string, summary *evidence.Summary) {
	t.Helper()
	if err := os.WriteFile(path, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	b := testenv.OpenInChromium(t, path, 1280, 900)
	var seen struct {
		Totals   string     `json:"totals"`
		Clusters [][]string `json:"clusters"`
		Points   []struct {
			ID   string     `json:"id"`
			Head []string   `json:"head"`
			Rows [][]string `json:"rows"`
		} `json:"points"`
		Failing map[string]int `json:"failing"`
	}
	b.Eval(`(() => {
		const text = e => e.innerText.trim();
		const cells = tr => [...tr.cells].map(text);
		const failing = {};
		for (const d of document.querySelectorAll("div[id$='-failing']")) failing[d.id] = d.querySelectorAll("li").length;
		return {
			totals: text(document.getElementById("totals")),
			clusters: [...document.querySelectorAll("#clusters tr.cluster")].map(cells),
			points: [...document.querySelectorAll("table.point")].map(tb => ({
				id: tb.dataset.point,
				head: cells(tb.rows[0]),
				rows: [...tb.rows].slice(1).map(cells),
			})),
			failing,
		};
	})()`, &seen)
	if want := fmt.Sprintf("%d verified records", summary.Records); !strings.HasPrefix(seen.Totals, want) {
		t.Errorf("the page reads %q, want %q first", seen.Totals, want)
	}
	if len(seen.Clusters) != len(summary.Clusters) {
		t.Fatalf("the page shows %d clusters, the JSON %d", len(seen.Clusters), len(summary.Clusters))
	}
	for i, c := range summary.Clusters {
		last := c.Runs[len(c.Runs)-1]
		want := []string{c.Name, strconv.Itoa(len(c.Runs)), strconv.Itoa(c.Passed), strconv.Itoa(c.Failed), last.Result + " " + last.At.UTC().Format(time.RFC3339)}
		if !reflect.DeepEqual(seen.Clusters[i], want) {
			t.Errorf("cluster row %d reads %q, the JSON says %q", i, seen.Clusters[i], want)
		}
	}
	if len(seen.Points) != len(summary.Points) {
		t.Fatalf("the page shows %d TSC points, the JSON %d", len(seen.Points), len(summary.Points))
	}
	colours := map[string]bool{}
	failures := 0
	for i, p := range summary.Points {
		got := seen.Points[i]
		head := []string{"control"}
		for _, c := range summary.Clusters {
			head = append(head, c.Name)
		}
		if got.ID != p.ID || !reflect.DeepEqual(got.Head, head) || len(got.Rows) != len(p.Controls) {
			t.Errorf("point %s on the page: %+v", p.ID, got)
			continue
		}
		for j, c := range p.Controls {
			want := []string{strings.TrimSpace(c.ID + " " + c.Title)}
			for _, runs := range c.Statuses {
				shown := make([]string, 0, len(runs))
				for _, st := range runs {
					if st == "" {
						st = "–"
					}
					colours[st] = true
					shown = append(shown, st)
				}
				want = append(want, strings.Join(shown, " "))
			}
			if !reflect.DeepEqual(got.Rows[j], want) {
				t.Errorf("%s %s reads %q on the page, the JSON says %q", p.ID, c.ID, got.Rows[j], want)
			}
			if len(c.Failing) > 0 {
				failures++
				anchor := strings.NewReplacer(".", "-", " ", "-", "/", "-", ":", "-").Replace(strings.ToLower(p.ID + "-" + c.ID + "-failing"))
				if seen.Failing[anchor] != len(c.Failing) {
					t.Errorf("%s %s: the page lists %d failing checks, the JSON %d", p.ID, c.ID, seen.Failing[anchor], len(c.Failing))
				}
			}
		}
	}
	if len(seen.Failing) != failures {
		t.Errorf("the page has %d failing lists, the JSON %d", len(seen.Failing), failures)
	}
	self := (&url.URL{Scheme: "file", Path: path}).String()
	for _, r := range b.Requests() {
		if r != self {
			t.Errorf("the page asked for %s: it must need nothing but itself", r)
		}
	}
	shot := b.Screenshot()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot: %v", err)
	}
	if err := os.WriteFile(path+".png", shot, 0o600); err != nil {
		t.Fatal(err)
	}
	// The page's stylesheet colours pass and fail cells; both must be on screen when the JSON
	// has them.
	want := map[string]color.RGBA{"pass": {0xdf, 0xf0, 0xd8, 0xff}, "fail": {0xf2, 0xde, 0xde, 0xff}}
	found := map[string]int{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			for name, c := range want {
				if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bl>>8) == c.B {
					found[name]++
				}
			}
		}
	}
	for name := range want {
		if colours[name] && found[name] == 0 {
			t.Errorf("the screenshot (%dx%d) shows no %s cell, though the page has one", bounds.Dx(), bounds.Dy(), name)
		}
	}
	if bounds.Dy() < 300 || (found["pass"] == 0 && found["fail"] == 0) {
		t.Errorf("the screenshot is %dx%d with no status cells: the page did not render", bounds.Dx(), bounds.Dy())
	}
	t.Logf("chromium rendered the page %dx%d: %d pass and %d fail pixels; %d requests", bounds.Dx(), bounds.Dy(), found["pass"], found["fail"], len(b.Requests()))
}
