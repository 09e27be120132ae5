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

    /// The grammar takes any unique abbreviation: after an abbreviation of `enable`, one letter
    /// of `secret` is enough, typed or quoted in a log line.
    @Test func abbreviationsTheGrammarTakesAreHiddenToo() {
        #expect(SecretLines.redacted("enable s 0 hunter2") == "enable s <redacted>")
        #expect(SecretLines.redacted("en s hunter2") == "en s <redacted>")
        #expect(SecretLines.redacted("ENA SE 9 $9$abc") == "ENA SE <redacted>")
        #expect(SecretLines.redacted("command timed out: \"en s 0 hunter2\" after 5 s") == "command timed out: \"en s <redacted>")
        #expect(SecretLines.carriesSecret("en s 0 x"))
        #expect(!SecretLines.carriesSecret("e s 0 x"), "one letter is not an abbreviation of enable (end, exit)")
        #expect(!SecretLines.carriesSecret("enable"))
        #expect(SecretLines.redacted("interface eth1: description open session") == "interface eth1: description open session")
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
