// The CLI parses and prints the shared address types; users of the CLI get them with it.
@_exported import NetTypes
