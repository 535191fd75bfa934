package testenv

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// Browser is a real headless Chromium (Debian's chromium package, which make installs)
// with one page, driven over the Chrome DevTools Protocol on 127.0.0.1, so tests see what
// a person opening a file sees: the rendered text, the pixels, and every request the page
// makes.
type Browser struct {
	t    testing.TB
	conn *websocket.Conn

	mu       sync.Mutex
	next     int
	waiting  map[int]chan cdpMessage
	requests []string
	loaded   chan struct{}
}

type cdpMessage struct {
	ID     int             `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// ChromiumPath is Chromium's binary: $BULWARK_CHROMIUM, else chromium on PATH. Missing, the
// test fails and says how to install it; it never skips.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	RequireServers(t)
	if p := os.Getenv("BULWARK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("this test renders a page in Debian's chromium, which is not installed: make chromium (apt-get install chromium), or set BULWARK_CHROMIUM")
	return ""
}

// OpenInChromium starts headless Chromium on about:blank, starts recording the page's
// requests, then loads the file at path and waits for its load event. The browser is
// stopped when the test ends.
func OpenInChromium(t testing.TB, path string, width, height int) *Browser {
	t.Helper()
	bin := ChromiumPath(t)
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	profile := tempDir(t, "", "chromium")
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	args := []string{"--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-background-networking", "--disable-component-update",
		"--user-data-dir=" + profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--remote-allow-origins=*", fmt.Sprintf("--window-size=%d,%d", width, height), "about:blank"}
	if os.Geteuid() == 0 {
		// Chromium refuses to start as root with its sandbox; tests here run as root.
		args = append([]string{"--no-sandbox"}, args...)
	}
	cmd := process(t, "chromium", os.Environ(), bin, args...)
	logFile := cmd.Stdout.(*os.File).Name()
	t.Cleanup(func() { stop(cmd) })
	// Chromium writes the port it chose to DevToolsActivePort in its profile.
	var port string
	deadline := time.Now().Add(60 * time.Second)
	for port == "" {
		if time.Now().After(deadline) {
			t.Fatalf("chromium did not open its DevTools port:\n%s", tail(logFile, 30))
		}
		if b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort")); err == nil {
			if lines := strings.SplitN(string(b), "\n", 2); len(lines) == 2 && lines[0] != "" {
				port = lines[0]
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	var targets []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	for {
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
		}
		if err == nil && len(targets) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium lists no page: %v\n%s", err, tail(logFile, 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	ws := ""
	for _, tg := range targets {
		if tg.Type == "page" {
			ws = tg.WS
		}
	}
	conn, err := websocket.Dial(ws, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatalf("connecting to chromium's page: %v", err)
	}
	conn.MaxPayloadBytes = 64 << 20
	b := &Browser{t: t, conn: conn, waiting: map[int]chan cdpMessage{}, loaded: make(chan struct{}, 1)}
	t.Cleanup(func() { conn.Close() })
	go b.read()
	b.call("Network.enable", nil)
	b.call("Page.enable", nil)
	b.call("Page.navigate", map[string]any{"url": (&url.URL{Scheme: "file", Path: abs}).String()})
	select {
	case <-b.loaded:
	case <-time.After(60 * time.Second):
		t.Fatalf("chromium did not finish loading %s", abs)
	}
	return b
}

func (b *Browser) read() {
	for {
		var m cdpMessage
		if err := websocket.JSON.Receive(b.conn, &m); err != nil {
			return
		}
		b.mu.Lock()
		switch {
		case m.ID != 0:
			if ch := b.waiting[m.ID]; ch != nil {
				ch <- m
				delete(b.waiting, m.ID)
			}
		case m.Method == "Network.requestWillBeSent":
			var p struct {
				Request struct {
					URL string `json:"url"`
				} `json:"request"`
			}
			if json.Unmarshal(m.Params, &p) == nil {
				b.requests = append(b.requests, p.Request.URL)
			}
		case m.Method == "Page.loadEventFired":
			select {
			case b.loaded <- struct{}{}:
			default:
			}
		}
		b.mu.Unlock()
	}
}

func (b *Browser) call(method string, params any) json.RawMessage {
	b.t.Helper()
	ch := make(chan cdpMessage, 1)
	b.mu.Lock()
	b.next++
	id := b.next
	b.waiting[id] = ch
	b.mu.Unlock()
	if err := websocket.JSON.Send(b.conn, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		b.t.Fatalf("chromium %s: %v", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			b.t.Fatalf("chromium %s: %s", method, m.Error.Message)
		}
		return m.Result
	case <-time.After(60 * time.Second):
		b.t.Fatalf("chromium %s: no answer", method)
	}
	return nil
}

// Eval evaluates a JavaScript expression in the page and unmarshals its (JSON-able) value
// into out.
func (b *Browser) Eval(expression string, out any) {
	b.t.Helper()
	raw := b.call("Runtime.evaluate", map[string]any{"expression": expression, "returnByValue": true})
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		b.t.Fatal(err)
	}
	if r.ExceptionDetails != nil {
		b.t.Fatalf("evaluating in the page: %s", r.ExceptionDetails.Text)
	}
	if err := json.Unmarshal(r.Result.Value, out); err != nil {
		b.t.Fatalf("the page's value %s: %v", r.Result.Value, err)
	}
}

// Screenshot is a PNG of the whole page as rendered.
func (b *Browser) Screenshot() []byte {
	b.t.Helper()
	raw := b.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true})
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		b.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	return png
}

// Requests are the URLs the page asked for since navigation began, the page's own first.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}
