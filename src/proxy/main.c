/* cocoon-proxy: see src/proxy/proxy.h. */
#include "proxy/proxy.h"

int main(int argc, char **argv)
{
    return proxy_main(argc, argv);
}
