package admin

import (
	"github.com/tenement/ten/compat"
	"github.com/tenement/ten/runtime/config"
)

// CheckConfig loads the config file at path, applies the data-dir override
// (flag, then TENEMENT_DATA_DIR) and reports every problem found.
// A file that cannot be read or parsed is reported as an error diagnostic,
// not as a Go error, so callers always get a report to print.
func CheckConfig(path, dataDirFlag string, getenv func(string) string) compat.ConfigReport {
	rep := compat.ConfigReport{File: path, Errors: []compat.Diagnostic{}, Warnings: []compat.Diagnostic{}}
	cfg, diags, err := config.Load(path)
	if err != nil {
		rep.Errors = append(rep.Errors, compat.Diagnostic{Severity: "error", File: path, Message: err.Error()})
		return rep
	}
	for _, d := range diags {
		cd := compat.Diagnostic{
			Severity: string(d.Severity), File: d.File, Line: d.Line,
			Key: d.Key, Message: d.Message, Hint: d.Hint,
		}
		if d.Severity == config.SeverityError {
			rep.Errors = append(rep.Errors, cd)
		} else {
			rep.Warnings = append(rep.Warnings, cd)
		}
	}
	cfg.OverrideDataDir(dataDirFlag, getenv)
	rep.OK = len(rep.Errors) == 0
	rep.Effective = cfg
	return rep
}
