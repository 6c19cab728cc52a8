package aof

import (
	"bytes"
	"errors"
)

// Function commands (functions.c). Libraries are kept as their source
// code; their name comes from the shebang line ("#!lua name=mylib"). The
// code itself is not run or checked: Redis did that when it accepted it.

func libraryName(code []byte) (string, error) {
	line, _, _ := bytes.Cut(code, []byte("\n"))
	if !bytes.HasPrefix(line, []byte("#!")) {
		return "", errors.New("missing library metadata")
	}
	parts := bytes.Fields(line[2:])
	if len(parts) == 0 {
		return "", errors.New("missing library metadata")
	}
	name := ""
	for _, p := range parts[1:] {
		v, ok := bytes.CutPrefix(p, []byte("name="))
		if !ok {
			return "", errors.New("invalid metadata value given: " + string(p))
		}
		name = string(v)
	}
	if name == "" {
		return "", errors.New("library name was not given")
	}
	for _, ch := range []byte(name) {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_') {
			return "", errors.New("library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
		}
	}
	return name, nil
}

func cmdFunction(c *cmd) error {
	sub := c.args[1]
	switch {
	case ascii(sub, "load") && len(c.args) >= 3:
		replace := false
		if len(c.args) == 4 && ascii(c.args[2], "replace") {
			replace = true
		} else if len(c.args) != 3 {
			return errSyntax
		}
		code := c.args[len(c.args)-1]
		name, err := libraryName(code)
		if err != nil {
			return rejectf("%v", err)
		}
		if _, ok := c.k.libs[name]; ok && !replace {
			return rejectf("Library '%s' already exists", name)
		}
		c.k.libs[name] = bytes.Clone(code)
	case ascii(sub, "delete") && len(c.args) == 3:
		if _, ok := c.k.libs[string(c.args[2])]; !ok {
			return rejectf("Library not found")
		}
		delete(c.k.libs, string(c.args[2]))
	case ascii(sub, "flush") && len(c.args) <= 3:
		if len(c.args) == 3 && !ascii(c.args[2], "sync") && !ascii(c.args[2], "async") {
			return rejectf("FUNCTION FLUSH only supports SYNC|ASYNC option")
		}
		c.k.libs = map[string][]byte{}
	default:
		return unsupportedf("FUNCTION %s", sub)
	}
	return nil
}
