// Package version is VNet's one version number: the CLI prints it, the
// cluster reports it in its status, agents and leaves send it when they
// register. swift/project.yml repeats it for Xcode (MARKETING_VERSION); a
// test here keeps the two equal.
package version

// Number is the release, in semantic-version form without a leading "v".
const Number = "0.1.0"
