package parallel

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
)

// TestDo: every job runs once, at most workers at a time, and the error returned is the
// lowest-numbered job's whatever order they fail in.
func TestDo(t *testing.T) {
	for _, workers := range []int{1, 3, 64} {
		var ran [100]atomic.Int32
		var running, most atomic.Int32
		err := Do(workers, len(ran), func(i int) error {
			if r := running.Add(1); r > most.Load() {
				most.Store(r)
			}
			defer running.Add(-1)
			ran[i].Add(1)
			if i%10 == 7 {
				return fmt.Errorf("job %d", i)
			}
			return nil
		})
		if err == nil || err.Error() != "job 7" {
			t.Errorf("workers %d: error %v, want job 7's", workers, err)
		}
		for i := range ran {
			if n := ran[i].Load(); n != 1 {
				t.Fatalf("workers %d: job %d ran %d times", workers, i, n)
			}
		}
		if m := most.Load(); m > int32(workers) {
			t.Errorf("workers %d: %d ran at once", workers, m)
		}
	}
	if err := Do(4, 0, func(int) error { return errors.New("ran") }); err != nil {
		t.Errorf("no jobs: %v", err)
	}
}
