package api

import "fmt"

// The numbers the API accepts, with their allowed ranges. tenement took
// "timeout" as any u64 (cli/src/api_routes.rs DeployRequest); a huge one
// overflowed into an instant 504 in ten, so both the API and the CLI now
// refuse what is out of range, naming the field and the range.
const (
	MinDeployTimeout = 1
	MaxDeployTimeout = 3600 // seconds: an hour is longer than any start
	MinWeight        = 0
	MaxWeight        = 100
)

// RangeError is a number outside its allowed range.
type RangeError struct {
	Field    string // as the caller named it: "timeout", or "--timeout"
	Value    int64
	Min, Max int64
	Unit     string // e.g. " seconds"
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("invalid %s %d: must be between %d and %d%s", e.Field, e.Value, e.Min, e.Max, e.Unit)
}

// CheckDeployTimeout checks a deploy timeout in seconds; field names it in
// the message.
func CheckDeployTimeout(field string, secs int64) error {
	if secs < MinDeployTimeout || secs > MaxDeployTimeout {
		return &RangeError{Field: field, Value: secs, Min: MinDeployTimeout, Max: MaxDeployTimeout, Unit: " seconds"}
	}
	return nil
}

// CheckWeight checks a routing weight; field names it in the message.
func CheckWeight(field string, w int64) error {
	if w < MinWeight || w > MaxWeight {
		return &RangeError{Field: field, Value: w, Min: MinWeight, Max: MaxWeight}
	}
	return nil
}

// fieldRanges describe the numeric JSON fields, for the message when a
// value does not even fit the type (e.g. 1e30, or 1.5).
var fieldRanges = map[string]string{
	"timeout": fmt.Sprintf("an integer between %d and %d (seconds)", MinDeployTimeout, MaxDeployTimeout),
	"weight":  fmt.Sprintf("an integer between %d and %d", MinWeight, MaxWeight),
}
