#ifndef AVALON_TAGLIB_H
#define AVALON_TAGLIB_H
#ifdef __cplusplus
extern "C" {
#endif
int avalon_taglib_placeholder(void);
#ifdef __cplusplus
}
#endif
#endif
