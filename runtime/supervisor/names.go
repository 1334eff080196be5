package supervisor

import (
	"errors"

	"github.com/tenement/ten/runtime/names"
)

// validName applies the one rule for instance ids and tenant names
// (names.Rule), so that the supervisor, the API and the token store agree.
func validName(s string) error {
	if why := names.Problem(s); why != "" {
		return errors.New(why)
	}
	return nil
}
