package compat

// Status is the outcome of one check.
type Status string

// Check outcomes, from good to bad. A "fail" means the candidate is not safe
// to roll out; an "error" means the check could not be carried out, so no
// decision was possible.
const (
	StatusOK    Status = "ok"
	StatusWarn  Status = "warn"
	StatusFail  Status = "fail"
	StatusError Status = "error"
)

// Result is one line of a check report.
type Result struct {
	Check   string `json:"check"`
	Status  Status `json:"status"`
	Message string `json:"message"`
}

// OK, Warn, Fail and Error build results.
func OK(check, msg string) Result    { return Result{Check: check, Status: StatusOK, Message: msg} }
func Warn(check, msg string) Result  { return Result{Check: check, Status: StatusWarn, Message: msg} }
func Fail(check, msg string) Result  { return Result{Check: check, Status: StatusFail, Message: msg} }
func Error(check, msg string) Result { return Result{Check: check, Status: StatusError, Message: msg} }

// Check names used in reports.
const (
	NameVersion   = "version"
	NameAPI       = "api"
	NameConfig    = "config"
	NameDatabase  = "database"
	NameChangelog = "changelog"
)
