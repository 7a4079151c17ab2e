// Command stamp prints keygate's version line, as every binary's --version does: the release
// test builds it with the release flags (a small stand-in for the apps, quick to build twice).
package main

import (
	"os"

	"github.com/keygate/keygate/internal/version"
)

func main() { version.Print(os.Stdout, os.Args) }
