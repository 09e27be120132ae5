#include <stdio.h>
#include <readline/readline.h>
#include <readline/history.h>

/* Swift 6 treats C globals as unsafe shared state; vtysh touches readline's globals only from
   its one thread, through these accessors. */
static inline void vtysh_rl_setup(const char *name, rl_completion_func_t *completer) {
    rl_readline_name = name;
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_attempted_completion_function = completer;
}
/* After readline is initialised (it reads inputrc then): a pasted configuration runs line by
   line, as on a switch, and no ESC [?2004h/l brackets the prompt for scripts and automation
   (netmiko, scrapli) to trip over. */
static inline void vtysh_rl_after_init(void) {
    rl_variable_bind("enable-bracketed-paste", "off");
}
static inline int vtysh_rl_point(void) { return rl_point; }
static inline void vtysh_rl_move_to_end(void) { rl_point = rl_end; }
static inline const char *vtysh_rl_line_buffer(void) { return rl_line_buffer; }
static inline void vtysh_rl_completion_over(void) { rl_attempted_completion_over = 1; }
