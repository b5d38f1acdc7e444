/* `ballot keygen`: peer key files for a new cluster (keygen.c). */
#ifndef BALLOT_CLIENT_KEYGEN_H
#define BALLOT_CLIENT_KEYGEN_H

/* argv[0] is "keygen". Returns the exit status. */
int keygen_main(int argc, char **argv);

#endif
