package config

import (
	"errors"
	"strconv"
	"strings"
)

// Vars are the values substituted into a service's command, args, env values
// and socket when an instance is spawned.
type Vars struct {
	Name    string // service name: {name}
	ID      string // instance id: {id}
	DataDir string // settings.data_dir: {data_dir}
	Port    int    // TCP port allocated to the instance: {port}
}

// Interpolate replaces {name}, {id}, {data_dir} and {port} in v, and also
// {socket} with the instance's socket path, as tenement does. Other text in
// braces, such as ${HOME} meant for a shell, is left alone.
//
// Replacement is a single pass, so a value that itself contains a
// placeholder is not expanded again. {port} is the port in vars, or the
// service's fixed port if vars has none, or empty.
func (s *Service) Interpolate(v string, vars Vars) string {
	if !strings.Contains(v, "{") {
		return v
	}
	return s.replacer(vars, true).Replace(v)
}

// EnvFor returns the service's environment with every value interpolated.
// The result is a new map; the service is not modified.
func (s *Service) EnvFor(vars Vars) map[string]string {
	r := s.replacer(vars, true)
	env := make(map[string]string, len(s.Env))
	for k, v := range s.Env {
		env[k] = r.Replace(v)
	}
	return env
}

// CommandFor returns the interpolated command.
func (s *Service) CommandFor(vars Vars) string {
	return s.Interpolate(s.Command, vars)
}

// Argv returns the program and arguments of an instance, interpolated.
// With args set, the command is the program as written (tenement passes it
// to exec unsplit). With args empty, the command is split into words as
// tenement does (hypervisor.rs:260-275, shell-words rules; see SplitWords),
// so command = "python3 -m http.server {port}" runs python3 with three
// arguments.
//
// The command is split before it is interpolated, not after: a substituted
// value (a data_dir with a space in it) stays one word instead of being cut
// in two. For the values tenement's own examples substitute (names, ids,
// ports, paths without spaces) the two orders give the same words.
func (s *Service) Argv(vars Vars) ([]string, error) {
	if len(s.Args) > 0 {
		return append([]string{s.CommandFor(vars)}, s.ArgsFor(vars)...), nil
	}
	words, err := SplitWords(s.Command)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, errors.New("command is empty")
	}
	r := s.replacer(vars, true)
	for i, w := range words {
		words[i] = r.Replace(w)
	}
	return words, nil
}

// ArgsFor returns the interpolated arguments as a new slice.
func (s *Service) ArgsFor(vars Vars) []string {
	r := s.replacer(vars, true)
	args := make([]string, len(s.Args))
	for i, a := range s.Args {
		args[i] = r.Replace(a)
	}
	return args
}

// SocketPath returns the interpolated socket path of an instance.
func (s *Service) SocketPath(vars Vars) string {
	return s.replacer(vars, false).Replace(s.Socket)
}

// replacer substitutes vars; withSocket adds {socket}, which the socket
// pattern itself cannot refer to.
func (s *Service) replacer(vars Vars, withSocket bool) *strings.Replacer {
	port := vars.Port
	if port == 0 {
		port = s.Port
	}
	portStr := ""
	if port != 0 {
		portStr = strconv.Itoa(port)
	}
	pairs := []string{
		"{name}", vars.Name,
		"{id}", vars.ID,
		"{data_dir}", vars.DataDir,
		"{port}", portStr,
	}
	if withSocket {
		pairs = append(pairs, "{socket}", s.SocketPath(vars))
	}
	return strings.NewReplacer(pairs...)
}
