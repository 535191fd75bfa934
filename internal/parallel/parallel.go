// Package parallel runs independent jobs on a fixed number of goroutines with a result that
// does not depend on scheduling.
package parallel

import (
	"sync"
	"sync/atomic"
)

// Do runs do(0..n-1) on at most workers goroutines and returns the error of the lowest i
// that failed, so that the error a user sees is the same on every run.
func Do(workers, n int, do func(i int) error) error {
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				errs[i] = do(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
