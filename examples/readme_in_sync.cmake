# Fails when the C block of README.md under "## Using it" is not
# examples/hello_pager.c, so the README's code is always the compiled one.
file(READ ${README} readme)
file(READ ${EXAMPLE} example)
string(FIND "${readme}" "```c\n${example}```" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md does not show ${EXAMPLE} verbatim")
endif()
