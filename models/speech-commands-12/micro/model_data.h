// g_model: 187176 bytes, written by speechgru export
#pragma once

extern const unsigned char g_model[];
extern const unsigned int g_model_len;
