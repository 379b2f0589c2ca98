package proxy_test

import "github.com/vnetproject/vnet/core/api"

// Who may call the Account methods (passwd.go), for TestPolicyMatrix;
// they join wantAllowed when the policies move into policy.go.
func init() {
	wantAllowed[api.Account_ChangePassword_FullMethodName] = []callerKind{userCert, adminCert}
	wantAllowed[api.Account_ResetUser_FullMethodName] = []callerKind{adminCert}
}
