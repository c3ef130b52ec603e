/* The least any process costs: a static program that only exits. bench/run.sh's `nop` row,
 * built with musl-gcc like the floor, so what the floor and healthprobe pay beyond exec+exit
 * can be read off the table. */
int main(void) { return 0; }
