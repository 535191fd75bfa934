package bundles

import "time"

var (
	time0 = time.Unix(0, 0)
	time1 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
)
