package profile

import (
	"encoding/json"
	"time"
)

// ParseDate reads YYYY-MM-DD as a UTC day.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, err
	}
	return Date{t}, nil
}

// MarshalJSON writes the day as YYYY-MM-DD; the zero date as null.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.Format(time.DateOnly))
}

// UnmarshalJSON reads YYYY-MM-DD. An unparseable day is left zero: the loader reports it
// with its position, which this method cannot know.
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil || s == "" {
		*d = Date{}
		return nil
	}
	parsed, err := ParseDate(s)
	if err != nil {
		*d = Date{}
		return nil
	}
	*d = parsed
	return nil
}

// String is the day as YYYY-MM-DD.
func (d Date) String() string { return d.Format(time.DateOnly) }
