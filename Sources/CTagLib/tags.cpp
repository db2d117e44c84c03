extern "C" int avalon_taglib_placeholder(void) { return 0; }
