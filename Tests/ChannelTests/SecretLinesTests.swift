import Testing

@testable import Channel

/// The one rule for lines that carry a secret: history keeps none, the log shows none of it.
@Suite struct SecretLinesTests {
    @Test func whatFollowsTheSecretWordIsHidden() {
        #expect(SecretLines.redacted("reload: + enable secret 9 $9$2MJBozw/9R3UsU$2lFhcKvpghcyw8deP25GOfyZaagyUOGBymkryvOdfo6")
            == "reload: + enable secret <redacted>")
        #expect(SecretLines.redacted("enable sec 0 hunter2") == "enable sec <redacted>")
        #expect(SecretLines.redacted("ENABLE SECRET\thunter2") == "ENABLE SECRET <redacted>")
        #expect(SecretLines.redacted("username admin secret 5 $1$abc") == "username admin secret <redacted>")
    }

    @Test func linesWithoutASecretStayAsTheyAre() {
        for line in ["wrong enable secret", "show running-config", "interface vlan10: description secretariat",
                     "se 0 x", "enable secret", "  spaced   line  "] {
            #expect(SecretLines.redacted(line) == line, "\(line)")
        }
        #expect(SecretLines.carriesSecret("enable secret 0 x"))
        #expect(!SecretLines.carriesSecret("description secretariat"))
    }
}
